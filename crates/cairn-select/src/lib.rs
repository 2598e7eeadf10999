//! cairn-select (skeleton)
