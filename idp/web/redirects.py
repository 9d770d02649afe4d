"""Where a page may send the person next: only to a path of this site.

The checker is the relying-party kit's (`idp.rp.redirects`): one rule for both sides.
"""

from idp.rp.redirects import local_path as safe_next

__all__ = ["safe_next"]
