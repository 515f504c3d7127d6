"""Writes the reference pages at build time (mkdocs-gen-files): one page per public class and
function of the library's modules, made by mkdocstrings from its docstring, with the source
beside it; for each layer, a gradient check run when the site is built.

A new public name in one of these modules gets its page with no edit here.
"""

import importlib
import inspect

import mkdocs_gen_files

from npgan.nn import Activation, Layer

MODULES = {  # section title: module
    "Layers (npgan.nn)": "npgan.nn",
    "Convolution as a matrix product (npgan.nn.im2col)": "npgan.nn.im2col",
    "Losses (npgan.losses)": "npgan.losses",
    "Optimisers (npgan.optim)": "npgan.optim",
    "GANs (npgan.gan)": "npgan.gan",
    "Conditional GANs (npgan.gan.conditional)": "npgan.gan.conditional",
    "GAN losses (npgan.gan.losses)": "npgan.gan.losses",
    "Gradient penalties (npgan.gan.penalties)": "npgan.gan.penalties",
    "Second order (npgan.nn.second_order)": "npgan.nn.second_order",
    "Kernels (npgan.kernels)": "npgan.kernels",
    "Gradient checks (npgan.gradcheck)": "npgan.gradcheck",
    "Metrics (npgan.evaluation.metrics)": "npgan.evaluation.metrics",
    "Data-parallel training (npgan.parallel)": "npgan.parallel",
    "Communicators (npgan.comm)": "npgan.comm",
    "Process tuning (npgan.runtime)": "npgan.runtime",
}

# worked examples in small numbers, run when the site is built, beside the derivation they illustrate
EXAMPLES = {
    "npgan.nn.Dense": '''
from npgan import backend, nn
import numpy as np

backend.set_backend("numpy")
backend.set_dtype("float64")
layer = nn.Dense(2, 3)                                   # W is (2, 3): in_features x out_features
layer.weight.data[...] = [[1, 0, 2], [-1, 3, 1]]
layer.bias.data[...] = [0.5, 0, -1]
x = np.array([[1.0, 2.0], [0.0, -1.0]])                  # N = 2 samples
y = layer.forward(x)                                     # y = x W + b
print("y =\\n", y)
y_bar = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])     # the adjoint of y, as the loss would give it
x_bar = layer.backward(y_bar)
print("x_bar = y_bar W^T =\\n", x_bar)
print("W_bar = x^T y_bar =\\n", layer.weight.grad)
print("b_bar = sum over n of y_bar =", layer.bias.grad)
''',
    "npgan.nn.Conv2D": '''
from npgan import backend, nn
from npgan.nn.im2col import im2col, pad_nhwc
import numpy as np

backend.set_backend("numpy")
backend.set_dtype("float64")
x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)            # one 3x3 image, one channel
conv = nn.Conv2D(1, 1, kernel_size=2, stride=1, padding=0)
conv.weight.data[...] = [[[[1, 2], [0, -1]]]]            # (out, in, K, K)
conv.bias.data[...] = 0
cols = im2col(pad_nhwc(x, 0, 0), 2, 2, 1, 1, 2, 2)       # a row per output position, a column per (u, v, c)
print("x =\\n", x[0, 0])
print("im2col(x): rows (h, w) = (0,0) (0,1) (1,0) (1,1); columns (u, v) = (0,0) (0,1) (1,0) (1,1)\\n", cols)
print("cols @ W_mat^T, reshaped to 2x2 =\\n", (cols @ conv.weight.data.reshape(1, -1).T).reshape(2, 2))
print("Conv2D.forward(x) =\\n", conv.forward(x)[0, 0])
''',
}


def public_names(module):
    """The module's ``__all__``, else what it defines itself (not imports) without a leading underscore."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name, obj in vars(module).items()
            if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
            and getattr(obj, "__module__", None) == module.__name__]


def gradcheck_block(name):
    return f'''
## Gradient check

Central differences against `backward` in float64 for the input and every parameter, run when
this page was built ([`gradcheck`](../npgan.gradcheck/gradcheck.md)), on the layer's own
`example()` (a small instance and an input shape it takes):

```python exec="on" source="above" result="text"
from npgan import backend, nn
from npgan.gradcheck import gradcheck

backend.set_dtype("float64")
backend.seed(0)
layer, shape = nn.{name}.example()
print(gradcheck(layer, backend.normal(shape), training=layer.training))
```
'''


summary = ["# Reference\n"]
for title, module_name in MODULES.items():
    module = importlib.import_module(module_name)
    summary.append(f"* {title}")
    for name in public_names(module):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # registries and constants are described on their module's pages
        path = f"reference/{module_name}/{name}.md"
        with mkdocs_gen_files.open(path, "w") as f:
            f.write(f"::: {module_name}.{name}\n")
            if f"{module_name}.{name}" in EXAMPLES:
                f.write("\n## Worked example\n\nIn small numbers, run when this page was built:\n\n"
                        f'```python exec="on" source="above" result="text"{EXAMPLES[f"{module_name}.{name}"]}```\n')
            if module_name == "npgan.nn" and inspect.isclass(obj) and issubclass(obj, Layer) \
                    and obj not in (Layer, Activation):
                f.write(gradcheck_block(name))
        summary.append(f"    * [{name}]({module_name}/{name}.md)")
with mkdocs_gen_files.open("reference/SUMMARY.md", "w") as f:
    f.write("* [Overview](index.md)\n" + "\n".join(summary[1:]) + "\n")
with mkdocs_gen_files.open("reference/index.md", "w") as f:
    f.write("# Reference\n\nOne page per public class and function, made from its docstring, with its source.\n\n"
            + "\n".join(line.replace("](", "](").replace("    * ", "    * ") for line in summary[1:]) + "\n")
