module keepalive.example/ffitest

go 1.19
