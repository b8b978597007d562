"""ACME's invoice mailer, cut down: render the invoice e-mail body with Jinja2."""
import importlib.metadata as metadata
import sys

print(f"python {sys.version.split()[0]}, jinja2 {metadata.version('jinja2')}, "
      f"markupsafe {metadata.version('markupsafe')}", flush=True)

# Jinja2 2.x does `from markupsafe import soft_unicode` while it is imported; MarkupSafe 2.1 removed it.
import jinja2  # noqa: E402

template = jinja2.Environment(autoescape=True).from_string(
    "Dear {{ name }},\nyour invoice {{ number }} over {{ '%.2f' | format(total) }} EUR is attached.\n"
)
print(template.render(name="ACME <Accounts Payable>", number="INV-2022-0311", total=1234.5))
