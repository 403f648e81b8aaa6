package main

// The transfer's wire format: header and answer parsing, with fuzz tests
// (seeds only in a normal run).

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
)

func header(n uint64) []byte {
	b := append([]byte{}, magic[:]...)
	return binary.BigEndian.AppendUint64(b, n)
}

func TestParseHeader(t *testing.T) {
	if n, err := parseHeader(header(1000), 1000); err != nil || n != 1000 {
		t.Errorf("good header: %d %v", n, err)
	}
	for name, b := range map[string][]byte{
		"too large": header(1001),
		"negative":  header(1 << 63),
		"magic":     append([]byte("HTTP"), header(1)[4:]...),
		"short":     header(1)[:11],
		"long":      append(header(1), 0),
	} {
		if _, err := parseHeader(b, 1000); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCheckReply(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	good := append(binary.BigEndian.AppendUint64([]byte{statusOK}, 7), sum[:]...)
	if err := checkReply(good, 7, sum[:]); err != nil {
		t.Errorf("good answer: %v", err)
	}
	bad := bytes.Clone(good)
	bad[0] = statusBad
	if err := checkReply(bad, 7, sum[:]); !errors.Is(err, errDigest) {
		t.Errorf("bad status: %v", err)
	}
	if err := checkReply(good, 8, sum[:]); !errors.Is(err, errDigest) {
		t.Errorf("wrong count: %v", err)
	}
	if err := checkReply(good[:10], 7, sum[:]); err == nil {
		t.Error("short answer accepted")
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(header(10_000_000), int64(1<<30))
	f.Add(header(1<<63), int64(1<<30))
	f.Add([]byte("NXQ1"), int64(0))
	f.Add([]byte{}, int64(5))
	f.Fuzz(func(t *testing.T, b []byte, max int64) {
		if max < 0 {
			max = -(max + 1)
		}
		n, err := parseHeader(b, max)
		if err == nil && (n < 0 || n > max || !bytes.Equal(header(uint64(n)), b)) {
			t.Fatalf("parseHeader(%x, %d) = %d", b, max, n)
		}
	})
}

func FuzzCheckReply(f *testing.F) {
	sum := sha256.Sum256(nil)
	f.Add(append(binary.BigEndian.AppendUint64([]byte{statusOK}, 0), sum[:]...), int64(0))
	f.Add([]byte{statusOK}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, n int64) {
		if checkReply(b, n, sum[:]) == nil && (len(b) != replySize || b[0] != statusOK) {
			t.Fatalf("checkReply accepted %x", b)
		}
	})
}
