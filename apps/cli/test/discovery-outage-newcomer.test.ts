// NATS down for 12 s, then back on the same port with an empty store, and a frontend starting at that moment
// creates the discovery bucket before the running services are back (see nats-outage.ts).
import { describeNatsOutage } from "./nats-outage.js";

describeNatsOutage({ wipe: true, newcomer: true });
