"""Writes one KServe v2 binary request for ResNet (uint8, 1x3xSxS) to argv[1];
prints the JSON header's length (for Inference-Header-Content-Length)."""
import json, random, sys

size = int(sys.argv[2]) if len(sys.argv) > 2 else 224
pixels = bytes(random.Random(7).randrange(256) for _ in range(3 * size * size))
header = json.dumps({
    "inputs": [{"name": "input", "shape": [1, 3, size, size], "datatype": "UINT8",
                "parameters": {"binary_data_size": len(pixels)}}],
    "outputs": [{"name": "output", "parameters": {"binary_data": True}}],
}).encode()
with open(sys.argv[1], "wb") as f:
    f.write(header + pixels)
print(len(header))
