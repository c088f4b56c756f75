// NATS down for 12 s, then back on the same port with an empty store (see nats-outage.ts).
import { describeNatsOutage } from "./nats-outage.js";

describeNatsOutage({ wipe: true, newcomer: false });
