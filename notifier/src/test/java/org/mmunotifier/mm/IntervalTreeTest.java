package org.mmunotifier.mm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The interval tree against a brute-force list, on seeded random operations. */
class IntervalTreeTest {

    /** One interval of the reference list, and the tree's value. */
    private static final class Iv {
        final long start;
        final long last;
        IntervalTree.Node<Iv> node;

        Iv(long start, long last) {
            this.start = start;
            this.last = last;
        }

        boolean overlaps(long lo, long hi) {
            return Long.compareUnsigned(start, hi) <= 0 && Long.compareUnsigned(last, lo) >= 0;
        }
    }

    /** Small coordinates make many overlaps and equal starts; wide ones test the unsigned order. */
    private static long coord(SplittableRandom r, boolean wide) {
        if (!wide) {
            return r.nextLong(64);
        }
        return switch (r.nextInt(4)) {
            case 0 -> r.nextLong();                        // anywhere (negative = above 2^63 unsigned)
            case 1 -> -1L - r.nextLong(8);                 // at the top
            case 2 -> r.nextLong(8);                       // at the bottom
            default -> Long.MIN_VALUE + r.nextLong(-8, 8); // around the signed boundary
        };
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {7, 8, 9})
    void manyIntervalsWithTheSameStart_areEachFoundAndRemoved_inAnyOrder(long seed) {
        // Ties on the start are ordered by insertion: a search for an old node under a newer one
        // with the same start must go the right way, or the node is not found.
        SplittableRandom r = new SplittableRandom(seed);
        IntervalTree<Iv> tree = new IntervalTree<>();
        List<Iv> ref = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            long start = 100L * r.nextInt(4);
            Iv iv = new Iv(start, start + r.nextInt(250));
            iv.node = tree.insert(iv, iv.start, iv.last);
            ref.add(iv);
        }
        tree.checkInvariants();
        while (!ref.isEmpty()) {
            Iv gone = ref.remove(r.nextInt(ref.size()));
            tree.remove(gone.node);
            long lo = 100L * r.nextInt(4);
            List<Iv> found = new ArrayList<>();
            tree.forEachOverlap(lo, lo + 10, found::add);
            assertThat(found).containsExactlyInAnyOrderElementsOf(ref.stream().filter(iv -> iv.overlaps(lo, lo + 10)).toList());
            assertThat(tree.size()).isEqualTo(ref.size());
        }
        tree.checkInvariants();
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 42, 4711, 0xC0FFEE})
    void randomInsertRemoveAndQueries_matchABruteForceList(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        boolean wide = (seed & 1) == 0;
        IntervalTree<Iv> tree = new IntervalTree<>();
        List<Iv> ref = new ArrayList<>();
        for (int op = 0; op < 4000; op++) {
            int kind = r.nextInt(10);
            if (kind < 4 || ref.isEmpty()) {
                long a = coord(r, wide);
                long b = coord(r, wide);
                Iv iv = Long.compareUnsigned(a, b) <= 0 ? new Iv(a, b) : new Iv(b, a);
                iv.node = tree.insert(iv, iv.start, iv.last);
                ref.add(iv);
                assertThat(iv.node.start()).isEqualTo(iv.start);
                assertThat(iv.node.last()).isEqualTo(iv.last);
            } else if (kind < 7) {
                tree.remove(ref.remove(r.nextInt(ref.size())).node);
            } else {
                long a = coord(r, wide);
                long b = coord(r, wide);
                long lo = Long.compareUnsigned(a, b) <= 0 ? a : b;
                long hi = Long.compareUnsigned(a, b) <= 0 ? b : a;
                List<Iv> expected = ref.stream().filter(iv -> iv.overlaps(lo, hi)).toList();
                List<Iv> found = new ArrayList<>();
                assertThat(tree.forEachOverlap(lo, hi, found::add)).isTrue();
                assertThat(found).as("overlaps of [%x, %x]", lo, hi).containsExactlyInAnyOrderElementsOf(expected);
                assertThat(tree.anyOverlap(lo, hi)).as("anyOverlap [%x, %x]", lo, hi).isEqualTo(!expected.isEmpty());
            }
            assertThat(tree.size()).isEqualTo(ref.size());
            if (op % 97 == 0) {
                tree.checkInvariants();
            }
        }
        tree.checkInvariants();
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {7, 8, 9})
    void forEachOverlap_reportsExactlyTheOverlappingValues_inStartOrder(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        IntervalTree<long[]> tree = new IntervalTree<>();
        List<long[]> ref = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            long s = r.nextLong(10_000);
            long[] v = {s, s + r.nextLong(300)};
            tree.insert(v, v[0], v[1]);
            ref.add(v);
        }
        for (int q = 0; q < 500; q++) {
            long lo = r.nextLong(10_500);
            long hi = lo + r.nextLong(200);
            List<long[]> found = new ArrayList<>();
            tree.forEachOverlap(lo, hi, v -> found.add(v));
            List<long[]> expected = ref.stream().filter(v -> v[0] <= hi && v[1] >= lo).toList();
            assertThat(found).containsExactlyInAnyOrderElementsOf(expected);
            for (int i = 1; i < found.size(); i++) {
                assertThat(found.get(i)[0]).isGreaterThanOrEqualTo(found.get(i - 1)[0]);
            }
        }
    }

    @Test
    void aVisitorThatReturnsFalse_stopsTheQuery() {
        IntervalTree<Integer> tree = new IntervalTree<>();
        for (int i = 0; i < 10; i++) {
            tree.insert(i, i * 10L, i * 10L + 5);
        }
        List<Integer> seen = new ArrayList<>();
        boolean completed = tree.forEachOverlap(0, 1000, v -> {
            seen.add(v);
            return v < 3;
        });
        assertThat(completed).isFalse();
        assertThat(seen).containsExactly(0, 1, 2, 3);
    }

    @Test
    void wholeAddressSpace_andTheTopAddress() {
        IntervalTree<String> tree = new IntervalTree<>();
        tree.insert("top", -1L, -1L);
        tree.insert("all", 0, -1L);
        tree.insert("high", Long.MIN_VALUE, Long.MIN_VALUE + 10);
        List<String> seen = new ArrayList<>();
        tree.forEachOverlap(0, -2L, seen::add);
        assertThat(seen).containsExactlyInAnyOrder("all", "high");
        seen.clear();
        tree.forEachOverlap(Long.MAX_VALUE, Long.MAX_VALUE, seen::add);
        assertThat(seen).containsExactly("all");
        assertThat(tree.anyOverlap(-1L, -1L)).isTrue();
    }

    @Test
    void removingANodeOfAnotherTree_isRefused() {
        IntervalTree<String> a = new IntervalTree<>();
        IntervalTree<String> b = new IntervalTree<>();
        IntervalTree.Node<String> n = a.insert("x", 1, 2);
        b.insert("y", 1, 2);
        assertThatThrownBy(() -> b.remove(n)).isInstanceOf(IllegalArgumentException.class);
        assertThat(b.size()).isEqualTo(1);
    }

    @Test
    void aQueryThatFindsNothing_descendsOnePath() {
        // 10,000 disjoint intervals; a query in a gap visits no value.
        IntervalTree<Integer> tree = new IntervalTree<>();
        for (int i = 0; i < 10_000; i++) {
            tree.insert(i, i * 100L, i * 100L + 10);
        }
        int[] visits = {0};
        tree.forEachOverlap(5050, 5060, v -> {
            visits[0]++;
            return true;
        });
        assertThat(visits[0]).isZero();
        assertThat(tree.anyOverlap(5050, 5060)).isFalse();
        assertThat(tree.anyOverlap(5050, 5100)).isTrue();
    }
}
