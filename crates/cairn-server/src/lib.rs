//! cairn-server (skeleton)
