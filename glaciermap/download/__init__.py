"""``glaciermap download``: search ASF, order HyP3 RTC and InSAR products, fetch them resumably.

``plan`` chooses the scenes (pure logic), ``orders`` talks to HyP3 through ``hyp3_sdk``, ``fetch``
downloads and verifies files, ``auth`` finds Earthdata Login credentials; the workspace's catalog
remembers every scene, job and file so a repeated run continues where the last one stopped.
"""
