package org.mmunotifier.simulator;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

/**
 * The HTML report's charts, drawn as SVG markup: a latency percentile plot, a line over time and
 * a bar chart. Each method returns one {@code <svg>} element, well-formed XML with every text
 * escaped; nothing refers outside it.
 *
 * <p>The percentile plot is drawn the way HdrHistogram's plotter draws an {@code .hgrm} file:
 * latency (linear) against percentile, with the percentile on a log scale of 1/(1-p), so that
 * 90%, 99%, 99.9% ... are evenly spaced.
 */
final class SvgChart {
    /** The width and height of every chart, in SVG user units (pixels at 100%). */
    static final int WIDTH = 640;
    static final int HEIGHT = 280;
    private static final int LEFT = 86;
    private static final int RIGHT = 36;
    private static final int TOP = 34;
    private static final int BOTTOM = 46;
    private static final int PLOT_W = WIDTH - LEFT - RIGHT;
    private static final int PLOT_H = HEIGHT - TOP - BOTTOM;
    /** HdrHistogram's usual resolution for a percentile distribution ({@code .hgrm}). */
    static final int TICKS_PER_HALF_DISTANCE = 5;

    private SvgChart() {
    }

    /** @return the points of a percentile plot: x = 1/(1-p) (p in 0..1, p = 1 left out), y in µs */
    static List<double[]> percentilePoints(Histogram nanos) {
        List<double[]> points = new ArrayList<>();
        for (HistogramIterationValue v : nanos.percentiles(TICKS_PER_HALF_DISTANCE)) {
            double p = v.getPercentileLevelIteratedTo() / 100.0;
            if (p < 1.0) {
                points.add(new double[] {1.0 / (1.0 - p), v.getValueIteratedTo() / 1e3});
            }
        }
        return points;
    }

    /**
     * A latency percentile plot of one histogram (nanoseconds, shown in µs). Its polyline has one
     * point per {@link #percentilePoints} point, plus the maximum at the right edge.
     *
     * @param standalone true for a file of its own (with the SVG namespace), false inline in HTML
     */
    static String percentilePlot(String title, Histogram nanos, boolean standalone) {
        List<double[]> points = percentilePoints(nanos);
        double maxX = 1;
        for (double[] p : points) {
            maxX = Math.max(maxX, p[0]);
        }
        int nines = (int) Math.max(3, Math.min(7, Math.ceil(Math.log10(maxX) - 1e-9)));
        double maxY = nanos.getTotalCount() == 0 ? 1 : nanos.getMaxValue() / 1e3;
        StringBuilder b = open(title, standalone);
        double yTop = yAxis(b, maxY, "latency (µs)");
        for (int k = 0; k <= nines; k++) { // x ticks: 0%, 90%, 99%, 99.9%, ...
            double px = LEFT + PLOT_W * (double) k / nines;
            gridLineX(b, px, percentileLabel(k));
        }
        b.append("<text x=\"").append(LEFT + PLOT_W / 2).append("\" y=\"").append(HEIGHT - 8)
                .append("\" text-anchor=\"middle\" class=\"axis\">percentile (log scale of 1/(1-p))</text>\n");
        StringBuilder pts = new StringBuilder();
        for (double[] p : points) {
            appendPoint(pts, LEFT + PLOT_W * Math.log10(p[0]) / nines, y(p[1], yTop));
        }
        if (nanos.getTotalCount() > 0) {
            appendPoint(pts, LEFT + PLOT_W, y(maxY, yTop)); // the maximum: percentile 100, at the edge
        }
        polyline(b, pts, "line");
        return close(b);
    }

    /** @return the label of the k-th decade: 0%, 90%, 99%, 99.9% ... */
    static String percentileLabel(int k) {
        return switch (k) {
            case 0 -> "0%";
            case 1 -> "90%";
            case 2 -> "99%";
            default -> "99." + "9".repeat(k - 2) + "%";
        };
    }

    /**
     * A line over time: one point per sample, x in seconds from 0 to the last sample.
     *
     * @param standalone true for a file of its own (with the SVG namespace), false inline in HTML
     */
    static String timePlot(String title, String yLabel, double[] seconds, double[] values, boolean standalone) {
        double maxX = 0;
        double maxY = 0;
        for (int i = 0; i < seconds.length; i++) {
            maxX = Math.max(maxX, seconds[i]);
            maxY = Math.max(maxY, values[i]);
        }
        double xStep = niceCeiling(Math.max(maxX, 0.1) / 6);
        double xRight = xStep * Math.ceil(Math.max(maxX, 0.1) / xStep - 1e-9);
        StringBuilder b = open(title, standalone);
        double yTop = yAxis(b, maxY, yLabel);
        for (int k = 0; k * xStep <= xRight + 1e-9; k++) {
            gridLineX(b, LEFT + PLOT_W * k * xStep / xRight, number(k * xStep));
        }
        b.append("<text x=\"").append(LEFT + PLOT_W / 2).append("\" y=\"").append(HEIGHT - 8)
                .append("\" text-anchor=\"middle\" class=\"axis\">time since the workers started (s)</text>\n");
        StringBuilder pts = new StringBuilder();
        for (int i = 0; i < seconds.length; i++) {
            appendPoint(pts, LEFT + PLOT_W * seconds[i] / xRight, y(values[i], yTop));
        }
        polyline(b, pts, "line");
        return close(b);
    }

    /**
     * A horizontal bar chart: one bar per label, with its value written after it.
     *
     * @param standalone true for a file of its own (with the SVG namespace), false inline in HTML
     */
    static String barChart(String title, List<String> labels, long[] values, boolean standalone) {
        long max = 1;
        for (long v : values) {
            max = Math.max(max, v);
        }
        int barLeft = LEFT + 88;
        int barWidth = WIDTH - barLeft - RIGHT - 70;
        double rowH = (double) PLOT_H / Math.max(1, labels.size());
        StringBuilder b = open(title, standalone);
        for (int i = 0; i < labels.size(); i++) {
            double top = TOP + i * rowH;
            double w = barWidth * (double) values[i] / max;
            b.append("<text x=\"").append(barLeft - 6).append("\" y=\"").append(f(top + rowH * 0.7))
                    .append("\" text-anchor=\"end\" class=\"axis\">").append(Html.escape(labels.get(i))).append("</text>\n");
            b.append("<rect class=\"bar\" x=\"").append(barLeft).append("\" y=\"").append(f(top + rowH * 0.15))
                    .append("\" width=\"").append(f(w)).append("\" height=\"").append(f(rowH * 0.7)).append("\"/>\n");
            b.append("<text x=\"").append(f(barLeft + w + 6)).append("\" y=\"").append(f(top + rowH * 0.7))
                    .append("\" class=\"axis\">").append(String.format(Locale.ROOT, "%,d", values[i])).append("</text>\n");
        }
        return close(b);
    }

    // ------------------------------------------------------------------ pieces

    private static StringBuilder open(String title, boolean standalone) {
        StringBuilder b = new StringBuilder();
        b.append("<svg ");
        if (standalone) {
            b.append("xmlns=\"http://www.w3.org/2000/svg\" ");
        }
        b.append("class=\"chart\" width=\"").append(WIDTH).append("\" height=\"").append(HEIGHT)
                .append("\" viewBox=\"0 0 ").append(WIDTH).append(' ').append(HEIGHT).append("\" role=\"img\">\n");
        b.append("<title>").append(Html.escape(title)).append("</title>\n");
        if (standalone) { // no page style sheet around it: the few styles it needs, inline
            b.append("<style>text{font:12px sans-serif;fill:#222}.title{font-weight:bold;font-size:14px}"
                    + ".grid{stroke:#ddd}.frame{stroke:#888;fill:none}.line{fill:none;stroke:#1f5fa8;stroke-width:2}"
                    + ".bar{fill:#1f5fa8}</style>\n");
            b.append("<rect width=\"").append(WIDTH).append("\" height=\"").append(HEIGHT).append("\" fill=\"#fff\"/>\n");
        }
        b.append("<text x=\"").append(LEFT).append("\" y=\"20\" class=\"title\">").append(Html.escape(title))
                .append("</text>\n");
        return b;
    }

    private static String close(StringBuilder b) {
        b.append("<rect class=\"frame\" x=\"").append(LEFT).append("\" y=\"").append(TOP).append("\" width=\"")
                .append(PLOT_W).append("\" height=\"").append(PLOT_H).append("\"/>\n");
        return b.append("</svg>\n").toString();
    }

    private static void gridLineX(StringBuilder b, double px, String label) {
        b.append("<line class=\"grid\" x1=\"").append(f(px)).append("\" y1=\"").append(TOP).append("\" x2=\"")
                .append(f(px)).append("\" y2=\"").append(TOP + PLOT_H).append("\"/>\n");
        b.append("<text x=\"").append(f(px)).append("\" y=\"").append(TOP + PLOT_H + 16)
                .append("\" text-anchor=\"middle\" class=\"axis\">").append(Html.escape(label)).append("</text>\n");
    }

    /**
     * Draws a y axis from 0 for values up to {@code max}: a nice step (1, 2, 2.5 or 5 times a
     * power of ten) for at most five ticks, and a top that is a whole number of steps.
     *
     * @return the value at the top of the axis
     */
    private static double yAxis(StringBuilder b, double max, String label) {
        double step = niceCeiling(Math.max(max, 1) / 5);
        int ticks = (int) Math.max(1, Math.ceil(Math.max(max, 1) / step - 1e-9));
        double yTop = step * ticks;
        for (int k = 0; k <= ticks; k++) {
            double py = TOP + PLOT_H - PLOT_H * k / (double) ticks;
            b.append("<line class=\"grid\" x1=\"").append(LEFT).append("\" y1=\"").append(f(py)).append("\" x2=\"")
                    .append(LEFT + PLOT_W).append("\" y2=\"").append(f(py)).append("\"/>\n");
            b.append("<text x=\"").append(LEFT - 6).append("\" y=\"").append(f(py + 4))
                    .append("\" text-anchor=\"end\" class=\"axis\">").append(Html.escape(number(step * k)))
                    .append("</text>\n");
        }
        b.append("<text x=\"14\" y=\"").append(TOP + PLOT_H / 2).append("\" text-anchor=\"middle\" class=\"axis\" "
                + "transform=\"rotate(-90 14 ").append(TOP + PLOT_H / 2).append(")\">").append(Html.escape(label))
                .append("</text>\n");
        return yTop;
    }

    private static void polyline(StringBuilder b, StringBuilder points, String cssClass) {
        b.append("<polyline class=\"").append(cssClass).append("\" points=\"").append(points.toString().strip())
                .append("\"/>\n");
    }

    private static void appendPoint(StringBuilder pts, double x, double y) {
        pts.append(f(x)).append(',').append(f(y)).append(' ');
    }

    private static double y(double value, double yTop) {
        return TOP + PLOT_H - PLOT_H * Math.min(value, yTop) / yTop;
    }

    /** @return the smallest of 1, 2, 2.5, 5 times a power of ten that is at least {@code v} (v > 0) */
    static double niceCeiling(double v) {
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 2.5, 5, 10}) {
            if (m * p >= v * (1 - 1e-12)) {
                return m * p;
            }
        }
        return 10 * p;
    }

    /** @return an axis label: thousands separators, at most two decimals, no trailing zeros */
    static String number(double v) {
        String s = String.format(Locale.ROOT, "%,.2f", v);
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }

    private static String f(double v) {
        return String.format(Locale.ROOT, "%.1f", v);
    }
}
