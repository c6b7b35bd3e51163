package org.mmunotifier.simulator.driver;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The invalidation-sequence protocol of {@link Mirror}, step by step on one thread. */
class MirrorTest {
    private final Mirror m = new Mirror(16);
    private final long entry = Mirror.pack(5, 3, true);

    @Test
    void pack_roundTrips() {
        long e = Mirror.pack(0x1ABC_DEF0 & 0x1FFF_FFFF, -7, false);
        assertThat(Mirror.frame(e)).isEqualTo(0x1ABC_DEF0 & 0x1FFF_FFFF);
        assertThat(Mirror.generation(e)).isEqualTo(-7);
        assertThat(Mirror.writable(e)).isFalse();
        assertThat(Mirror.writable(entry)).isTrue();
    }

    @Test
    void install_withUnchangedSequence_succeeds() {
        long s = m.seqLocked();
        assertThat(m.installLocked(4, entry, s)).isTrue();
        assertThat(m.entryLocked(4)).isEqualTo(entry);
    }

    @Test
    void install_whileAnInvalidationIsInProgress_isRefused() {
        long s = m.seqLocked();
        m.startLocked(0, 16);
        assertThat(m.installLocked(4, entry, s)).isFalse();
        assertThat(m.entryLocked(4)).isZero();
    }

    @Test
    void install_afterAnInvalidationEndedSinceTheSnapshot_isRefused() {
        long s = m.seqLocked();
        m.startLocked(8, 9);
        assertThat(m.endLocked()).isTrue();
        assertThat(m.installLocked(4, entry, s)).as("any completed invalidation forces a retry").isFalse();
        assertThat(m.installLocked(4, entry, m.seqLocked())).isTrue();
    }

    @Test
    void start_dropsOnlyTheRange() {
        m.installLocked(3, entry, m.seqLocked());
        m.installLocked(9, entry, m.seqLocked());
        assertThat(m.startLocked(0, 4)).isEqualTo(1);
        assertThat(m.entryLocked(3)).isZero();
        assertThat(m.entryLocked(9)).isEqualTo(entry);
    }

    @Test
    void end_withoutStart_isReported() {
        assertThat(m.endLocked()).isFalse();
    }

    @Test
    void young_isSetByAccessAndClearedOnce() {
        m.installLocked(2, entry, m.seqLocked());
        assertThat(m.clearYoungLocked(0, 16)).isFalse();
        m.markYoungLocked(2);
        assertThat(m.testYoungLocked(2)).isTrue();
        assertThat(m.clearYoungLocked(0, 16)).isTrue();
        assertThat(m.clearYoungLocked(0, 16)).isFalse();
    }

    @Test
    void kill_dropsEverythingAndRefusesInstalls() {
        m.installLocked(2, entry, m.seqLocked());
        m.killLocked();
        assertThat(m.entryLocked(2)).isZero();
        assertThat(m.installLocked(2, entry, m.seqLocked())).isFalse();
    }
}
