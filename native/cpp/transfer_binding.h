// N-API class wrapping TransferEngine: promises settle on the JavaScript thread through a thread-safe function.
#pragma once
#include <napi.h>

namespace kvasir {
Napi::Function define_transfer_engine(Napi::Env env);
}
