//! The server: each accepted socket under the server machine, one shared timer.
