import { z } from "zod";

// Request fields end up in kvasir.worker.v1 protobuf fields; a value outside the field's type cannot be encoded,
// so each is refused at the API with the field's name rather than failing on every worker.
export const INT32_MIN = -(2 ** 31);
export const INT32_MAX = 2 ** 31 - 1;
export const UINT32_MAX = 2 ** 32 - 1;

/** An integer that fits a protobuf uint32. */
export const uint32 = () => z.int().min(0).max(UINT32_MAX);
/** An integer that fits a protobuf int32. */
export const int32 = () => z.int().min(INT32_MIN).max(INT32_MAX);
