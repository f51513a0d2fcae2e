package warehouse

import "unsafe"

// unsafeString views b as a string without copying; b must not change while the string lives.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
