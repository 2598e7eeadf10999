//! cairn-store (skeleton)
