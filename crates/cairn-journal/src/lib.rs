//! cairn-journal (skeleton)
