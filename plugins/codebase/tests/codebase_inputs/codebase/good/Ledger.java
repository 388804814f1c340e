package org.example.ledger;

import java.util.ArrayList;
import java.util.List;

/** A ledger: the good Java file of the bad-input corpus. */
public class Ledger {
    private final List<Long> entries = new ArrayList<>();

    public void record(long cents) {
        entries.add(cents);
    }

    public long balance() {
        long sum = 0;
        for (long cents : entries) {
            sum += cents;
        }
        return sum;
    }
}
