# swimwheel: `make test` is what CI runs; `make fuzz` and `make bench` are the long runs.
GO        ?= go
PKGS      := ./...
FUZZTIME  ?= 10s
LONGFUZZ  ?= 5m
BENCHTIME ?= 1s
BENCHCOUNT ?= 6

.PHONY: all test fmt vet race fuzz-smoke bench-smoke build-386 fuzz bench

all: test

test: fmt vet race fuzz-smoke bench-smoke build-386

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

race:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# Every Fuzz target in the tree, FUZZTIME each.
fuzz-smoke:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) sh scripts/fuzz.sh

# Every benchmark once, to prove it still runs.
bench-smoke:
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout 15m $(PKGS)

build-386:
	GOARCH=386 $(GO) build $(PKGS)
	GOARCH=386 $(GO) vet $(PKGS)

# The long forms: model and property tests with millions of operations
# (SWIMWHEEL_LONG=1), then every fuzz target for LONGFUZZ.
fuzz:
	SWIMWHEEL_LONG=1 $(GO) test -count=1 -timeout 60m $(PKGS)
	@FUZZTIME=$(LONGFUZZ) GO=$(GO) sh scripts/fuzz.sh

# Full benchmarks, in the format benchstat reads: make bench > new.txt
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(BENCHCOUNT) -timeout 60m $(PKGS)
