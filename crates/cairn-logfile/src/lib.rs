//! cairn-logfile (skeleton)
