"""Hooli's nightly report, reduced: a worker fills a shared 96 MB block that the parent then sums."""
import multiprocessing as mp
import sys
from multiprocessing import shared_memory

SIZE = 96 * 1024 * 1024


def fill(name):
    block = shared_memory.SharedMemory(name=name)
    for offset in range(0, SIZE, 4096):  # touch every page, as a numpy array copy would
        block.buf[offset] = 1
    block.close()


if __name__ == "__main__":
    block = shared_memory.SharedMemory(create=True, size=SIZE)  # succeeds even when /dev/shm is smaller
    try:
        worker = mp.Process(target=fill, args=(block.name,))
        worker.start()
        worker.join()
        if worker.exitcode != 0:
            print(f"ERROR: worker 0 exited unexpectedly with signal {-worker.exitcode} (SIGBUS). This might be "
                  "caused by insufficient shared memory (shm).", file=sys.stderr)
            sys.exit(1)
        print("report ok:", sum(block.buf[::4096]), "pages")
    finally:
        block.close()
        block.unlink()
