package cli

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// withConfigFile reads the optional configuration file named by a leading
// `--config FILE` (or `--config=FILE`) or by ENISHI_CONFIG, and returns the
// remaining arguments and a getenv that answers from the environment first
// and the file second. Flags beat both (each flag's default is read
// through getenv). The file holds ENISHI_* variables, one KEY=VALUE a line,
// with # comments and optional quotes (docs/operations.md lists them).
func withConfigFile(args []string, getenv func(string) string) ([]string, func(string) string, error) {
	path := getenv("ENISHI_CONFIG")
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "--config" || a == "-config":
			if len(args) < 2 {
				return nil, nil, fmt.Errorf("--config needs a file")
			}
			path, args = args[1], args[2:]
		case strings.HasPrefix(a, "--config="):
			path, args = strings.TrimPrefix(a, "--config="), args[1:]
		}
	}
	if path == "" {
		return args, getenv, nil
	}
	vals, err := readConfig(path)
	if err != nil {
		return nil, nil, err
	}
	return args, func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}

func readConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		if !ok || !strings.HasPrefix(k, "ENISHI_") {
			return nil, fmt.Errorf("config %s line %d: write ENISHI_NAME=value", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	return vals, sc.Err()
}
