module github.com/nodeconn/natx

go 1.25

require (
	github.com/pion/logging v0.2.4
	github.com/pion/transport/v5 v5.1.5
	go.uber.org/goleak v1.3.0
)

require golang.org/x/time v0.14.0 // indirect
