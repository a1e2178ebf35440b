#!/usr/bin/python3
"""PyTorch's own forward pass of the reference model in Python, for comparison with
medanchor_bench_inference (BM_EngineReferenceModel): the bundle's model.ts, frozen and optimised for
inference as both the LibTorch engine and the peer run it, on standard normal tensors of the same
shape (1 x 128 x 128; seeded, not the C++ benchmark's values), batch 1 and 8, 1 and 2 threads,
under torch.inference_mode. Prints wall time per batch (median of 3) and process CPU time.
    /usr/bin/python3 bench/peer/torch_forward.py        (Debian's python3-torch; not in CI)
"""
import os
import time

import torch

MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "models", "ct-nodule-sim", "model.ts")


def main():
    model = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.load(MODEL).eval()))
    generator = torch.Generator().manual_seed(3)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (1, 8):
            x = torch.randn(batch, 1, 128, 128, generator=generator)
            with torch.inference_mode():
                for _ in range(5):  # warm-up: the first calls compile the optimised graph
                    model(x)
                runs = []
                for _ in range(3):
                    n = max(10, 100 // batch)
                    cpu, wall = time.process_time(), time.perf_counter()
                    for _ in range(n):
                        model(x)
                    runs.append(((time.perf_counter() - wall) / n, (time.process_time() - cpu) / n))
                wall, cpu = sorted(runs)[1]
            print(f"PyTorch {torch.__version__}, threads {threads}, batch {batch}: {wall * 1e3:.2f} ms per batch "
                  f"(process CPU {cpu * 1e3:.2f} ms), {batch / wall:.0f} images/s")


if __name__ == "__main__":
    main()
