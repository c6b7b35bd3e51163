package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Behaviour 2 in docs/srcu.md: readers never hold an object that a completed grace period
 * allowed to be reclaimed (rcutorture's pipe-age check), plus forward progress of grace periods
 * under continuous readers, for each reader flavour (the torture's readers are platform threads:
 * the one-fence and fence-free flavours count them on their slots, the two-RMW one on the
 * stripes; the fence-free rows run only where membarrier is available, JDK 22+ on Linux). A bounded run
 * here; a long run under {@code -Plong}.
 */
class SrcuTortureTest {

    static Stream<Arguments> modesAndFlavours() {
        return Arrays.stream(ReaderFlavour.values())
                .flatMap(f -> Arrays.stream(PipeTorture.Mode.values()).map(m -> Arguments.of(m, f)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("modesAndFlavours")
    void pipeAge_neverBeyondOne_bounded(PipeTorture.Mode mode, ReaderFlavour flavour) throws InterruptedException {
        assumeTrue(flavour != ReaderFlavour.FENCE_FREE || BrokenCounters.fenceFreeAvailable(),
                "the fence-free reader needs membarrier: JDK 22+ on Linux");
        try (Srcu srcu = BrokenCounters.domain("torture-" + mode + "-" + flavour, new ReaderCounters(), flavour)) {
            PipeTorture.Result r = new PipeTorture(srcu, mode, 3, 42).run(1_500);
            assertThat(r.violations()).as("objects read after a grace period reclaimed them: %s", r).isZero();
            assertThat(r.reads()).as("readers made progress: %s", r).isGreaterThan(1_000);
            assertThat(r.gracePeriods()).as("grace periods kept completing under readers: %s", r)
                    .isGreaterThan(10);
            assertThat(r.histogram()[1]).as("the check saw retired objects at all: %s", r).isPositive();
        }
    }

    @Test
    void pipeAge_negativeControl_scanThatNeverWaits_isCaught() throws InterruptedException {
        try (Srcu srcu = BrokenCounters.domain("torture-broken", BrokenCounters.neverWaits())) {
            PipeTorture.Result r = new PipeTorture(srcu, PipeTorture.Mode.SYNC, 3, 7).run(1_000);
            assertThat(r.violations()).as("the broken domain must be caught: %s", r).isPositive();
        }
    }

    @Tag("long")
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("modesAndFlavours")
    void pipeAge_neverBeyondOne_long(PipeTorture.Mode mode, ReaderFlavour flavour) throws InterruptedException {
        assumeTrue(flavour != ReaderFlavour.FENCE_FREE || BrokenCounters.fenceFreeAvailable(),
                "the fence-free reader needs membarrier: JDK 22+ on Linux");
        long millis = Long.getLong("torture.millis", 60_000L);
        try (Srcu srcu = BrokenCounters.domain("torture-long-" + mode + "-" + flavour, new ReaderCounters(), flavour)) {
            PipeTorture.Result r = new PipeTorture(srcu, mode, 4, System.nanoTime()).run(millis);
            assertThat(r.violations()).as("%s", r).isZero();
            assertThat(r.gracePeriods()).as("%s", r).isPositive();
        }
    }
}
