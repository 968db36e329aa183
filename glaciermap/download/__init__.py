"""``glaciermap download``: search ASF, order HyP3 RTC and InSAR products, fetch them resumably.

The stage's logic, over the services :mod:`glaciermap.io` talks to: ``plan`` chooses the scenes (pure
logic over :mod:`glaciermap.calendar`'s slots), ``orders`` decides what to order from HyP3
(:mod:`glaciermap.io.hyp3.api`), ``members`` fetches only the members of a product zip that preprocess
reads (over :mod:`glaciermap.io.http`), ``auth`` finds Earthdata Login credentials, and ``run`` ties
them together; the workspace's catalog remembers every scene, job and file so a repeated run continues
where the last one stopped.
"""
