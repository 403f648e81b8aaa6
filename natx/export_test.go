package natx

// Test helpers of this package that the external tests (package natx_test)
// use.

// SelfSignedTLS is selfSignedTLS (listener_sockopt_test.go).
var SelfSignedTLS = selfSignedTLS
