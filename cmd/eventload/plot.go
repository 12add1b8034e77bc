package main

import (
	"fmt"
	"io"
	"strings"
)

// writeSVG draws the samples of a run as three stacked line charts over
// time: eventd's RSS, its goroutines, and the p99 signal→wake latency.
func writeSVG(w io.Writer, title string, samples []sample) error {
	const width, panelH, left, top, gap = 720, 150, 70, 40, 40
	panels := []struct {
		label string
		value func(sample) float64
	}{
		{"RSS (MiB)", func(s sample) float64 { return s.RSS / (1 << 20) }},
		{"goroutines", func(s sample) float64 { return s.Goroutines }},
		{"p99 signal→wake (ms)", func(s sample) float64 { return s.P99ms }},
	}
	height := top + len(panels)*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="22" font-size="15">%s</text>`+"\n", left, escape(title))
	tMax := 1.0
	for _, s := range samples {
		tMax = max(tMax, s.T)
	}
	plotW := float64(width - left - 20)
	for i, p := range panels {
		y0 := float64(top + i*(panelH+gap))
		vMax := 0.0
		for _, s := range samples {
			vMax = max(vMax, p.value(s))
		}
		vMax = niceCeil(vMax)
		fmt.Fprintf(&b, `<rect x="%d" y="%.0f" width="%.0f" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, plotW, panelH)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f">%s</text>`+"\n", left, y0-6, escape(p.label))
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">%g</text><text x="%d" y="%.0f" text-anchor="end">0</text>`+"\n",
			left-6, y0+12, vMax, left-6, y0+panelH)
		var pts []string
		for _, s := range samples {
			x := float64(left) + s.T/tMax*plotW
			y := y0 + panelH - p.value(s)/vMax*panelH
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">time (s), 0 to %.0f</text>`+"\n", left, height-12, tMax)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for axis labels.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
