# Copyright (c) flinkops.flink contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make the Sphinx site from ``antsibull-docs sphinx-init`` build offline.

The generated ``conf.py`` fetches intersphinx inventories from docs.python.org,
jinja.palletsprojects.com and docs.ansible.com. Without network each fetch is a
warning, and ``sphinx-build -W`` turns it into a failure; the pages antsibull-docs
generates also refer to a few labels of the Ansible docsite
(``common_return_values``, ...) that only that inventory defines.

This writes a small inventory with exactly those labels, pointing at their real
pages on docs.ansible.com, and makes ``conf.py`` use it instead of the network.
The links in the built site are the same as with the downloaded inventory.

Usage: offline_intersphinx.py DOCS_BUILD_DIR   (the sphinx-init --dest-dir)
"""

from __future__ import annotations

import os
import sys
import zlib

ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/devel/'

# label -> (page, anchor, title). The labels antsibull-docs' templates refer to.
LABELS = {
    'common_return_values': ('reference_appendices/common_return_values.html',
                             'common-return-values', 'Return Values'),
    'ansible_configuration_settings': ('reference_appendices/config.html',
                                       'ansible-configuration-settings',
                                       'Ansible Configuration Settings'),
    'collections_keyword': ('collections_guide/collections_using_playbooks.html', '',
                            'Using collections in playbooks'),
    'list_of_collections': ('collections/index.html', '', 'Collection Index'),
    'action_plugins': ('plugins/action.html', '', 'Action plugins'),
    'callback_plugins': ('plugins/callback.html', '', 'Callback plugins'),
    'list_of_callback_plugins': ('collections/index_callback.html', '',
                                 'Index of all Callback Plugins'),
}


def inventory():
    lines = []
    for label, (page, anchor, title) in sorted(LABELS.items()):
        uri = page + ('#' + anchor if anchor else '')
        lines.append('%s std:label -1 %s %s' % (label, uri, title))
    header = ('# Sphinx inventory version 2\n'
              '# Project: Ansible\n'
              '# Version: devel\n'
              '# The remainder of this file is compressed using zlib.\n')
    return header.encode('utf-8') + zlib.compress(('\n'.join(lines) + '\n').encode('utf-8'))


def main(dest):
    inv_path = os.path.abspath(os.path.join(dest, 'ansible_devel.inv'))
    with open(inv_path, 'wb') as handle:
        handle.write(inventory())
    with open(os.path.join(dest, 'conf.py'), 'a', encoding='utf-8') as handle:
        handle.write('\n# Offline build (tests/docs/offline_intersphinx.py): no network fetches.\n'
                     'intersphinx_mapping = {\n'
                     '    %r: (%r, %r),\n'
                     '}\n' % ('ansible_devel', ANSIBLE_DOCS, inv_path))


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
