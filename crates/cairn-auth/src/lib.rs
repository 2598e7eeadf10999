//! cairn-auth (skeleton)
