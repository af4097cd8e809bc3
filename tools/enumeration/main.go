// Command enumeration measures whether the request endpoint's timing tells known
// email addresses from unknown ones. It sends N requests of each kind, shuffled,
// one at a time, and prints both latency distributions, the difference of the
// medians and a two-sample Kolmogorov-Smirnov test.
//
//	go run ./tools/enumeration -url http://localhost:8080/dbconnections/change_password -n 2000
//
// Run it against a Caddy whose password_reset block says `rate_limit off`: the
// limits would otherwise (correctly) refuse 2000 requests from one address. The
// targets (issue 5): medians within 2%, KS p-value above 0.01. A small p-value
// means the two distributions differ, that is, an attacker could tell them apart.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddy-password-reset/caddy-password-reset/internal/timing"
)

func main() {
	url := flag.String("url", "http://localhost:8080/dbconnections/change_password", "the change_password endpoint")
	n := flag.Int("n", 2000, "requests of each kind")
	known := flag.String("known", "alice@example.com,bob@example.com", "comma-separated addresses that have accounts")
	client := flag.String("client", "demo-app", "client_id")
	conn := flag.String("connection", "Username-Password-Authentication", "connection")
	flag.Parse()

	probe := timing.Probe{URL: *url, ClientID: *client, Connection: *conn, Known: strings.Split(*known, ","),
		Client: &http.Client{Timeout: 10 * time.Second}, Warmup: 100}
	k, u, err := probe.Run(context.Background(), *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "enumeration:", err)
		os.Exit(1)
	}
	c := timing.Compare(k, u)
	fmt.Print(c)
	verdict := "indistinguishable at these thresholds (medians within 2%, p > 0.01)"
	if c.MedianRatio > 0.02 || c.P <= 0.01 {
		verdict = "DISTINGUISHABLE at these thresholds (medians within 2%, p > 0.01)"
	}
	fmt.Println(verdict)
}
