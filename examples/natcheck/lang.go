// This file chooses natcheck's language: the -lang flag, else the POSIX
// locale variables, else English.

package main

import (
	"fmt"
	"strings"
)

// lang is a language natcheck speaks.
type lang string

const (
	english lang = "en"
	french  lang = "fr"
)

// parseLang reads a -lang value ("en", "fr", or a locale such as
// "fr_FR.UTF-8").
func parseLang(s string) (lang, error) {
	switch l := localeLang(s); l {
	case english, french:
		return l, nil
	}
	return "", fmt.Errorf("language %q: want en or fr", s)
}

// localeLang returns the language of a locale name ("fr_FR.UTF-8",
// "fr", "en_US"); "" for anything else ("C", "POSIX", "de_DE").
func localeLang(s string) lang {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "_.@-"); i >= 0 {
		s = s[:i]
	}
	switch s {
	case "en":
		return english
	case "fr":
		return french
	}
	return ""
}

// chooseLang picks the language: flag if set, else the first set variable of
// LC_ALL, LC_MESSAGES and LANG (POSIX precedence: the first set one decides,
// even when natcheck does not speak it, in which case English), else English.
func chooseLang(flagValue string, getenv func(string) string) (lang, error) {
	if flagValue != "" {
		return parseLang(flagValue)
	}
	if getenv == nil {
		return english, nil
	}
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if s := getenv(v); s != "" {
			if l := localeLang(s); l != "" {
				return l, nil
			}
			return english, nil
		}
	}
	return english, nil
}
