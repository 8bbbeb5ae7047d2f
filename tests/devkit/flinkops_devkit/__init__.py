# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""flinkops_devkit: the test, benchmark and demo tooling of flinkops.flink (not part of the collection).

    flinkctl       the real-Flink harness: local clusters, and the ``flinkctl`` command
    provision      Flink distributions from PyPI, the test jobs compiled for them
    rest           the one REST client for tooling (one-shot ``rest()``, keep-alive ``Rest``)
    observer       a cluster seen from outside (``Flink``), the 20 ms ``RunningObserver``
    heartbeats     the test jobs' heartbeats, tailed from the TaskManager output
    faultproxy     a loopback proxy that breaks chosen requests and records every one
    modules        run a module of the collection the way Ansible does
    playbooks      run ansible-playbook, read its recap and custom stats
    pytest_plugin  the real-Flink fixtures (registered by the repository's pytest.ini)

``make venv`` installs it editable into every venv (requirements/units.txt).
"""
