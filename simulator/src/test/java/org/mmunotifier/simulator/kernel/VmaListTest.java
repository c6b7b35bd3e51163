package org.mmunotifier.simulator.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class VmaListTest {

    @Test
    void unmap_inTheMiddle_splitsTheArea() {
        VmaList vmas = new VmaList(64);
        vmas.insert(new VmaList.Vma(10, 20, VmaList.PROT_READ));
        vmas.unmap(12, 15);
        assertThat(vmas.all()).containsExactly(new VmaList.Vma(10, 12, VmaList.PROT_READ),
                new VmaList.Vma(15, 20, VmaList.PROT_READ));
        assertThat(vmas.find(13)).isNull();
    }

    @Test
    void protect_partOfAnArea_splitsAndChangesOnlyThatPart() {
        VmaList vmas = new VmaList(64);
        int rw = VmaList.PROT_READ | VmaList.PROT_WRITE;
        vmas.insert(new VmaList.Vma(0, 8, rw));
        vmas.protect(2, 4, VmaList.PROT_READ);
        assertThat(vmas.all()).containsExactly(new VmaList.Vma(0, 2, rw), new VmaList.Vma(2, 4, VmaList.PROT_READ),
                new VmaList.Vma(4, 8, rw));
    }

    @Test
    void neighboursWithTheSameProtection_merge() {
        VmaList vmas = new VmaList(64);
        vmas.insert(new VmaList.Vma(0, 4, VmaList.PROT_READ));
        vmas.insert(new VmaList.Vma(4, 8, VmaList.PROT_READ));
        assertThat(vmas.all()).containsExactly(new VmaList.Vma(0, 8, VmaList.PROT_READ));
        vmas.protect(2, 4, VmaList.PROT_READ | VmaList.PROT_WRITE);
        vmas.protect(2, 4, VmaList.PROT_READ);
        assertThat(vmas.size()).isEqualTo(1);
    }

    @Test
    void insert_overlapping_throws() {
        VmaList vmas = new VmaList(64);
        vmas.insert(new VmaList.Vma(10, 20, VmaList.PROT_READ));
        assertThatThrownBy(() -> vmas.insert(new VmaList.Vma(5, 11, VmaList.PROT_READ)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("overlaps");
    }

    @Test
    void mmap_whenFull_returnsNull() {
        VmaList vmas = new VmaList(16);
        vmas.insert(new VmaList.Vma(0, 16, VmaList.PROT_READ));
        assertThat(vmas.mmap(1, VmaList.PROT_READ, new SplittableRandom(1))).isNull();
    }

    /** Random mmap/munmap/mprotect against a per-page protection model; the areas stay sorted, disjoint and merged. */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 7, 99, 2024, 31337})
    void randomSequence_matchesPerPageModel(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int pages = 64;
        VmaList vmas = new VmaList(pages);
        int[] model = new int[pages]; // 0 = unmapped, else prot
        for (int i = 0; i < 500; i++) {
            int op = rng.nextInt(3);
            if (op == 0) {
                int prot = 1 + rng.nextInt(3);
                VmaList.Vma v = vmas.mmap(1 + rng.nextInt(8), prot, rng);
                if (v != null) {
                    for (int p = v.start(); p < v.end(); p++) {
                        assertThat(model[p]).as("seed %d step %d: mmap over a mapped page %d", seed, i, p).isZero();
                        model[p] = prot;
                    }
                }
            } else {
                int from = rng.nextInt(pages);
                int to = from + 1 + rng.nextInt(pages - from);
                if (op == 1) {
                    vmas.unmap(from, to);
                    for (int p = from; p < to; p++) {
                        model[p] = 0;
                    }
                } else {
                    int prot = 1 + rng.nextInt(3);
                    vmas.protect(from, to, prot);
                    for (int p = from; p < to; p++) {
                        if (model[p] != 0) {
                            model[p] = prot;
                        }
                    }
                }
            }
            for (int p = 0; p < pages; p++) {
                VmaList.Vma v = vmas.find(p);
                assertThat(v == null ? 0 : v.prot()).as("seed %d step %d page %d", seed, i, p).isEqualTo(model[p]);
            }
            int covered = 0;
            int prevEnd = 0;
            int prevProt = 0;
            for (VmaList.Vma v : vmas.all()) {
                assertThat(v.start()).as("seed %d: areas sorted and disjoint", seed).isGreaterThanOrEqualTo(prevEnd);
                if (v.start() == prevEnd) { // vma_merge: touching areas of one protection are one area
                    assertThat(v.prot()).as("seed %d step %d: area %s not merged with the one before", seed, i, v)
                            .isNotEqualTo(prevProt);
                }
                prevEnd = v.end();
                prevProt = v.prot();
                covered += v.length();
            }
            assertThat(vmas.size()).isEqualTo(vmas.all().size());
            int mappedPages = 0;
            for (int m : model) {
                mappedPages += m != 0 ? 1 : 0;
            }
            assertThat(covered).as("seed %d step %d", seed, i).isEqualTo(mappedPages);
        }
    }

    @Test
    void mmapAligned_placesTheAreaAtAMultipleOfTheAlignment_orNowhere() {
        VmaList vmas = new VmaList(64);
        vmas.insert(new VmaList.Vma(3, 5, VmaList.PROT_READ)); // blocks [0, 16) for an aligned 16
        vmas.insert(new VmaList.Vma(40, 41, VmaList.PROT_READ)); // and [32, 48)
        SplittableRandom rng = new SplittableRandom(1);
        VmaList.Vma a = vmas.mmapAligned(16, 16, VmaList.PROT_READ | VmaList.PROT_WRITE, rng);
        VmaList.Vma b = vmas.mmapAligned(16, 16, VmaList.PROT_READ | VmaList.PROT_WRITE, rng);
        assertThat(java.util.List.of(a.start(), b.start())).containsExactlyInAnyOrder(16, 48);
        assertThat(vmas.mmapAligned(16, 16, VmaList.PROT_READ, rng)).as("no aligned gap left").isNull();
        assertThat(vmas.overlaps(5, 16)).isFalse();
        assertThat(vmas.overlaps(4, 16)).isTrue();
    }

    /**
     * Direct inserts (next to either neighbour, or overlapping and refused), unmaps and protects
     * of random ranges, each followed by a comparison of the whole list with the one canonical
     * list of the per-page model: maximal runs of one protection. This reaches the junction
     * merges that {@link #randomSequence_matchesPerPageModel} reaches only through mmap.
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {3, 17, 404, 8675309})
    void directChanges_keepTheCanonicalMergedList(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int pages = 8 + rng.nextInt(60);
        VmaList vmas = new VmaList(pages);
        int[] model = new int[pages];
        for (int step = 0; step < 2_000; step++) {
            int from = rng.nextInt(pages);
            int to = from + 1 + rng.nextInt(Math.min(pages - from, 12));
            int prot = 1 + rng.nextInt(3);
            switch (rng.nextInt(3)) {
                case 0 -> {
                    boolean free = true;
                    for (int p = from; p < to; p++) {
                        free &= model[p] == 0;
                    }
                    VmaList.Vma v = new VmaList.Vma(from, to, prot);
                    if (free) {
                        vmas.insert(v);
                        for (int p = from; p < to; p++) {
                            model[p] = prot;
                        }
                    } else {
                        java.util.List<VmaList.Vma> before = vmas.all();
                        assertThatThrownBy(() -> vmas.insert(v)).isInstanceOf(IllegalArgumentException.class);
                        assertThat(vmas.all()).as("a refused insert changes nothing").isEqualTo(before);
                    }
                }
                case 1 -> {
                    vmas.unmap(from, to);
                    for (int p = from; p < to; p++) {
                        model[p] = 0;
                    }
                }
                default -> {
                    vmas.protect(from, to, prot);
                    for (int p = from; p < to; p++) {
                        model[p] = model[p] == 0 ? 0 : prot;
                    }
                }
            }
            assertThat(vmas.all()).as("seed %d step %d", seed, step).isEqualTo(canonical(model));
        }
    }

    /** The areas of a per-page model (0 = unmapped): maximal runs of pages with one protection. */
    private static java.util.List<VmaList.Vma> canonical(int[] model) {
        java.util.List<VmaList.Vma> out = new java.util.ArrayList<>();
        for (int p = 0; p < model.length; ) {
            int q = p;
            while (q < model.length && model[q] == model[p]) {
                q++;
            }
            if (model[p] != 0) {
                out.add(new VmaList.Vma(p, q, model[p]));
            }
            p = q;
        }
        return out;
    }

    @Test
    void emptyOrReversedRanges_areRefused_andChangeNothing() {
        VmaList vmas = new VmaList(16);
        vmas.insert(new VmaList.Vma(0, 10, VmaList.PROT_READ));
        assertThatThrownBy(() -> vmas.protect(5, 5, VmaList.PROT_WRITE)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[5, 5)");
        assertThatThrownBy(() -> vmas.unmap(7, 5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[7, 5)");
        assertThat(vmas.all()).containsExactly(new VmaList.Vma(0, 10, VmaList.PROT_READ));
    }
}
