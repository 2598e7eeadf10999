//! cairn-pattern (skeleton)
