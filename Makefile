# natx — build and test entry points. See README.md.
#
#   make check   everything CI runs: gofmt, go vet (also for darwin, windows
#                and freebsd: make cross), staticcheck, the mutation check
#                (make mutate), and every test with -race, including the
#                network-namespace lab (as root it first installs the lab's
#                Debian packages, and then runs each lab benchmark once,
#                lab-bench-smoke; as non-root the lab tests are skipped and
#                this says so loudly)
#   make test    the fast tests only (no root, no lab)
#   make mutate  the mutation check: each listed defence switched off must
#                make its tests fail (docs/mutation.md)
#   make bench   the benchmarks (figures in docs/benchmarks.md)
#   make cross   go vet ./... for macOS, Windows and FreeBSD (the code for
#                other systems is cross-built only: see README.md)

GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Debian packages the lab needs (internal/netlab): network namespaces and
# nftables NATs, the gateway daemon, the STUN/TURN server, and the reference
# clients the lab's self-tests use.
LAB_PACKAGES  := iproute2 procps nftables conntrack miniupnpd-nftables miniupnpc natpmpc coturn tayga
ROOT          := $(shell id -u)
TESTFLAGS     ?=
# Packages with lab benchmarks (func BenchmarkLab…), for lab-bench-smoke.
LAB_BENCH_PKGS := $(sort $(dir $(shell grep -rl --include='*_test.go' '^func BenchmarkLab' .)))

.PHONY: check test bench fmt vet cross staticcheck mutate nested lab-deps lab-banner lab-bench-smoke

check: lab-deps fmt vet cross staticcheck nested mutate
ifeq ($(ROOT),0)
	NATX_LAB=require $(GO) test -race $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory lab-bench-smoke
else
	$(GO) test -race $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory lab-banner
endif

test: fmt vet
	$(GO) test -race -short $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory lab-banner

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The nested modules natx itself must not depend on: the Prometheus
# collector (natx/natxprom) is vetted and tested on its own.
nested:
	cd natx/natxprom && $(GO) vet ./... && $(GO) test -race $(TESTFLAGS) ./...

# CROSS_OS are the systems every package and test must compile and vet for.
CROSS_OS      := darwin windows freebsd
cross:
	@for os in $(CROSS_OS); do \
		echo "GOOS=$$os $(GO) vet ./..."; \
		GOOS=$$os $(GO) vet ./... || exit 1; \
	done

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# Switches each defence of internal/mutation/list.go off in a copy of the
# tree and requires the tests named for it to fail.
mutate:
	$(GO) run ./internal/mutation

# Each lab benchmark once, one package at a time (root only): not a
# measurement but a smoke run, so that a benchmark whose own validation fails
# (b.Fatal: the work it claims was not done) breaks CI. About 1.5 minutes
# (docs/benchmarks.md).
lab-bench-smoke:
	NATX_LAB=require $(GO) test -p 1 -count=1 -timeout 15m -run '^$$' -bench '^BenchmarkLab' -benchtime 1x $(LAB_BENCH_PKGS)

# Installs the lab's packages when running as root and any is missing.
lab-deps:
ifeq ($(ROOT),0)
	@missing=""; for p in $(LAB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "lab-deps: installing$$missing (their services not started: the lab runs them in namespaces)"; \
		policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy=1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; rc=$$?; \
		[ -z "$$policy" ] || rm -f /usr/sbin/policy-rc.d; \
		exit $$rc; \
	else echo "lab-deps: all lab packages present"; fi
else
	@echo "lab-deps: not root, not installing $(LAB_PACKAGES)"
endif

lab-banner:
	@echo "######################################################################"
	@echo "# LAB TESTS SKIPPED: internal/netlab and every lab test need root     #"
	@echo "# (network namespaces, nftables, miniupnpd, coturn).                  #"
	@echo "# Only the unit and simulation tiers ran. Run 'sudo make check'.      #"
	@echo "######################################################################"
