package org.mmunotifier.simulator;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The run's samples over time: one per tick, and a bounded number however long the run. */
class TimelineTest {

    @Test
    void aShortRun_keepsOneSamplePerTick_andTheLastReplacesATickJustBeforeIt() {
        Timeline t = new Timeline();
        for (int i = 1; i <= 10; i++) {
            t.add(i * 100L, i * 1_000L, 0);
        }
        t.addLast(1_020, 10_300, 1);
        List<Timeline.Sample> s = t.samples();
        assertThat(s).hasSize(10);
        assertThat(s.get(9)).isEqualTo(new Timeline.Sample(1_020, 10_300, 1));
        assertThat(t.primaryEventsPerSecond()[0]).isEqualTo(10_000.0);
    }

    @Test
    void aDayLongRun_keepsAtMostMaxSamples_evenlySpaced_endingWithTheLast() {
        Timeline t = new Timeline();
        int ticks = 24 * 36_000; // 24 h of 100 ms ticks
        for (int i = 1; i <= ticks; i++) {
            t.add(i * 100L, i, 0);
        }
        t.addLast(ticks * 100L + 60, ticks + 1, 0);
        List<Timeline.Sample> s = t.samples();
        assertThat(s.size()).isLessThanOrEqualTo(Timeline.MAX_SAMPLES).isGreaterThan(Timeline.MAX_SAMPLES / 4);
        assertThat(s.get(s.size() - 1).millis()).isEqualTo(ticks * 100L + 60);
        long step = s.get(1).millis() - s.get(0).millis();
        for (int i = 1; i < s.size() - 1; i++) {
            assertThat(s.get(i).millis() - s.get(i - 1).millis()).as("sample %d", i).isEqualTo(step);
        }
        assertThat(step).as("the interval doubled at each thinning").isGreaterThan(Timeline.INTERVAL_MILLIS);
    }
}
