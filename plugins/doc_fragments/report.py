# Copyright: fleetsec.vmscape contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options of the fleet report callbacks (fleetsec.vmscape.vmscape_report and the playbooks' own copy)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  report_dir:
    description:
      - Directory for the JSON and HTML reports (created when missing).
      - The extra variable C(vmscape_report_dir) (for example a job template's extra variable in
        AWX) takes precedence.
    type: path
    default: ./reports
    env:
      - name: VMSCAPE_REPORT_DIR
    ini:
      - section: vmscape_report
        key: report_dir
  write_files:
    description:
      - Write the JSON and HTML files (the terminal summary is always printed).
      - The extra variable C(vmscape_report_files) takes precedence.
    type: bool
    default: true
    env:
      - name: VMSCAPE_REPORT_FILES
    ini:
      - section: vmscape_report
        key: write_files
  report_template:
    description:
      - Jinja2 template of the HTML page, instead of the role's C(templates/fleet_report.html.j2).
      - The extra variable C(vmscape_report_template) takes precedence.
    type: path
    env:
      - name: VMSCAPE_REPORT_TEMPLATE
    ini:
      - section: vmscape_report
        key: report_template
  terminal_rows:
    description:
      - Which hosts the terminal summary lists. V(all), V(problems) (every host not passing), or
        V(auto) (all up to 100 hosts, problems above). Totals always cover every host.
    type: str
    choices: [auto, all, problems]
    default: auto
    env:
      - name: VMSCAPE_REPORT_ROWS
    ini:
      - section: vmscape_report
        key: terminal_rows
"""
