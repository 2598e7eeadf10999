//! cairn-event (skeleton)
