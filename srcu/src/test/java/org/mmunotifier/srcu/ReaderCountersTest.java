package org.mmunotifier.srcu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The scan's order (unlocks summed before locks) is what makes equal sums mean "no pre-existing
 * reader is inside". The racing reader that defeats the reversed order is placed exactly between
 * the two sums, deterministically, through the scan's test hook.
 */
class ReaderCountersTest {

    @Test
    void scan_readerThatEntersAndLeavesBetweenSums_doesNotHideAReaderStillInside() {
        AtomicReference<ReaderCounters> self = new AtomicReference<>();
        AtomicInteger hookRuns = new AtomicInteger();
        ReaderCounters counters = new ReaderCounters(1) {
            @Override
            void betweenSums() {
                // Reader B enters and leaves while the scan is between its two sums.
                hookRuns.incrementAndGet();
                self.get().lock(0, 0);
                self.get().unlock(0, 0);
            }
        };
        self.set(counters);
        counters.lock(0, 0); // reader A is inside
        assertThat(counters.readersGone(0)).as("reader A is still inside").isFalse();
        assertThat(hookRuns).as("the scan placed reader B between its sums exactly once").hasValue(1);
    }

    @Test
    void scan_negativeControl_locksSummedFirst_isFooledByTheSameInterleaving() {
        AtomicReference<ReaderCounters> self = new AtomicReference<>();
        ReaderCounters broken = BrokenCounters.locksBeforeUnlocks(() -> {
            self.get().lock(0, 0);
            self.get().unlock(0, 0);
        });
        self.set(broken);
        broken.lock(0, 0); // reader A is inside
        assertThat(broken.readersGone(0)).as("the reversed scan wrongly reports no readers").isTrue();
    }

    @Test
    void scan_seesReadersOnItsIndexOnly_acrossStripes() {
        ReaderCounters counters = new ReaderCounters(4);
        counters.lock(1, 1);
        assertThat(counters.readersGone(0)).isTrue();
        assertThat(counters.readersGone(1)).isFalse();
        counters.unlock(3, 1); // unlock may land on another stripe: only sums matter
        assertThat(counters.readersGone(1)).isTrue();
        assertThat(counters.activeReaders()).isZero();
    }

    @Test
    void defaultStripes_isTheNextPowerOfTwoAtOrAboveTwiceTheCpus_cappedAt256() {
        int cpus = Runtime.getRuntime().availableProcessors();
        int expected = 1;
        while (expected < 2 * cpus) {
            expected *= 2;
        }
        assertThat(ReaderCounters.defaultStripes()).as("%d CPUs", cpus).isEqualTo(Math.min(256, expected));
        assertThat(new ReaderCounters().stripes()).isEqualTo(ReaderCounters.defaultStripes());
    }

    @Test
    void stripes_acceptEveryPowerOfTwoFromOneTo256_andNothingElse() {
        for (int s = 1; s <= 256; s *= 2) {
            assertThat(new ReaderCounters(s).stripes()).isEqualTo(s);
        }
        for (int bad : new int[] {0, -1, -2, 3, 6, 512, Integer.MIN_VALUE}) {
            assertThatIllegalArgumentException().as("%d stripes", bad).isThrownBy(() -> new ReaderCounters(bad))
                    .withMessage("stripes must be a power of two in [1, 256], got " + bad);
        }
    }

    @Test
    void stripes_areAPowerOfTwo_andAssignedRoundRobin() {
        assertThat(Integer.bitCount(ReaderCounters.defaultStripes())).isEqualTo(1);
        ReaderCounters counters = new ReaderCounters(2);
        assertThat(new int[] {counters.assignStripe(), counters.assignStripe(), counters.assignStripe()})
                .containsExactly(0, 1, 0);
        assertThatIllegalArgumentException().isThrownBy(() -> new ReaderCounters(3)).withMessageContaining("power of two");
    }
}
