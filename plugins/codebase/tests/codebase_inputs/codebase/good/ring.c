/* A ring buffer: the good C file of the bad-input corpus. */
#include <stddef.h>

struct ring {
    int data[16];
    size_t head;
    size_t count;
};

int ring_push(struct ring *r, int value) {
    if (r->count == 16) {
        return -1;
    }
    r->data[(r->head + r->count) % 16] = value;
    r->count++;
    return 0;
}
