package broker_test

import (
	"strings"
	"testing"

	"github.com/baum-store/baum/infra/broker"
)

func TestParseUser(t *testing.T) {
	u, err := broker.ParseUser("scram-sha-512:baum:pa:ss")
	if err != nil || u != (broker.User{Mechanism: "SCRAM-SHA-512", Name: "baum", Password: "pa:ss"}) {
		t.Errorf("got %+v, %v", u, err)
	}
	for _, bad := range []string{"PLAIN:baum", "PLAIN::pw", "GSSAPI:baum:pw", ""} {
		if _, err := broker.ParseUser(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := (broker.Config{Users: []broker.User{{Mechanism: "OAUTHBEARER", Name: "x"}}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "OAUTHBEARER") {
		t.Errorf("an unknown mechanism passed validation: %v", err)
	}
}
