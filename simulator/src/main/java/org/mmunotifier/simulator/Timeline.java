package org.mmunotifier.simulator;

import java.util.ArrayList;
import java.util.List;

/**
 * The run over time: every {@value #INTERVAL_MILLIS} ms the thread that waits for the workers
 * notes the time, the primary events the workers and kswapd have made so far, and the
 * violations found so far; one more sample when the workers stop, which replaces a tick sample
 * taken less than half an interval before it. The report draws the
 * throughput and the violations over time from it, and writes it in the JSON.
 *
 * <p>A long run keeps at most {@value #MAX_SAMPLES} samples: when that many are taken, every
 * other one is dropped and the interval doubles from then on (100 ms for the first six minutes,
 * then 200 ms, and so on), so a 24-hour run writes a few thousand samples, not 864,000.
 *
 * <p>Written by one thread during the run, read after it.
 */
final class Timeline {
    /** The interval between two samples. */
    static final int INTERVAL_MILLIS = 100;

    /**
     * One sample.
     *
     * @param millis time since the workers started
     * @param primaryEvents primary events made by the workers and kswapd so far (published by
     *     each every few hundred events, and when it stops)
     * @param violations violations found so far
     */
    record Sample(long millis, long primaryEvents, long violations) {
    }

    /** The most samples kept; see the class comment. */
    static final int MAX_SAMPLES = 3_600;

    private final List<Sample> samples = new ArrayList<>();
    /** The interval now kept between two tick samples: {@value #INTERVAL_MILLIS} ms, doubled at each thinning. */
    private long intervalMillis = INTERVAL_MILLIS;

    /**
     * Adds a tick sample, taken every {@value #INTERVAL_MILLIS} ms; samples come in time order. A
     * tick closer than the kept interval to the last sample is skipped once the samples have been
     * thinned.
     */
    void add(long millis, long primaryEvents, long violations) {
        thinIfFull(); // first: the spacing below is then checked against the new interval
        if (!samples.isEmpty() && millis - samples.get(samples.size() - 1).millis() < intervalMillis - INTERVAL_MILLIS / 2) {
            return;
        }
        samples.add(new Sample(millis, primaryEvents, violations));
    }

    /** Drops every other sample, keeping the last, and doubles the interval, if the samples are full. */
    private void thinIfFull() {
        if (samples.size() >= MAX_SAMPLES) {
            thin();
        }
    }

    /** Drops every other sample, keeping the last, and doubles the interval. */
    private void thin() {
        List<Sample> kept = new ArrayList<>(samples.size() / 2 + 1);
        for (int i = (samples.size() - 1) % 2; i < samples.size(); i += 2) { // ends on the last
            kept.add(samples.get(i));
        }
        samples.clear();
        samples.addAll(kept);
        intervalMillis *= 2;
    }

    /**
     * Adds the last sample, taken when the workers stopped. A tick sample less than half an
     * interval before it is dropped first, so that the last rate is not taken over a few
     * milliseconds (the end of the run would read as a drop in throughput).
     */
    void addLast(long millis, long primaryEvents, long violations) {
        if (!samples.isEmpty() && millis - samples.get(samples.size() - 1).millis() < INTERVAL_MILLIS / 2) {
            samples.remove(samples.size() - 1);
        }
        thinIfFull();
        samples.add(new Sample(millis, primaryEvents, violations));
    }

    /** @return the samples, oldest first */
    List<Sample> samples() {
        return List.copyOf(samples);
    }

    /**
     * The primary-event rate between each sample and the one before it (the first one's rate is
     * taken from the start of the run: 0 ms, 0 events).
     *
     * @return one rate per sample, in events per second
     */
    double[] primaryEventsPerSecond() {
        double[] rates = new double[samples.size()];
        long t = 0;
        long e = 0;
        for (int i = 0; i < rates.length; i++) {
            Sample s = samples.get(i);
            long dt = Math.max(1, s.millis() - t);
            rates[i] = (s.primaryEvents() - e) * 1000.0 / dt;
            t = s.millis();
            e = s.primaryEvents();
        }
        return rates;
    }
}
