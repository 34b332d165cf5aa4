package server

import (
	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
)

// decisionMessage carries the five wire fields. Synthesized has no field: the contract
// signals it with a response header instead, so that the Decision message stays frozen.
func decisionMessage(d client.Decision) *contract.Decision {
	return &contract.Decision{
		Allowed:      d.Allowed,
		Limit:        d.Limit,
		Remaining:    d.Remaining,
		ResetAt:      d.ResetAt,
		RetryAfterMs: d.RetryAfterMs,
	}
}

func forecastMessage(f client.Forecast) *contract.Forecast {
	return &contract.Forecast{
		SpendableNow:    f.SpendableNow,
		NextReplenishAt: f.NextReplenishAt,
		FullAt:          f.FullAt,
	}
}
