{
  "targets": [
    {
      "target_name": "kvasir_native",
      "sources": [
        "cpp/xxh3.cc",
        "cpp/positional_index.cc",
        "cpp/concurrent_indexer.cc",
        "cpp/transfer_engine.cc",
        "cpp/transfer_binding.cc",
        "cpp/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-lrt"] }]
      ]
    }
  ]
}
