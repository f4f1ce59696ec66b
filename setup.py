"""Packaging for adavipro: everything is read from settings.ini (nbdev 2 layout)."""
from configparser import ConfigParser
from pathlib import Path
import re, setuptools, shlex

here = Path(__file__).resolve().parent
config = ConfigParser(delimiters=['='])
config.read(here / 'settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language git_url".split()
for o in expected: assert o in cfg, "missing expected setting: {} (is settings.ini next to setup.py?)".format(o)
setup_cfg = {o: cfg[o] for o in cfg_keys}

statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
py_versions = '3.10 3.11 3.12 3.13'.split()

def reqs(key): return shlex.split(cfg.get(key, ''))
requirements = reqs('requirements')
extras = {name: reqs(f'{name}_requirements') for name in ('study', 'clip', 'ucf101')}
extras['all'] = sorted({r for v in extras.values() for r in v})
extras['dev'] = extras['all'] + reqs('dev_requirements')
min_python = cfg['min_python']
repo, branch = cfg['git_url'].rstrip('/'), cfg['branch']


def absolute_links(markdown:str) -> str:
    "README's relative links made absolute on the repository, so that the long description renders off it (PyPI)."
    def fix(m):
        text, target = m.group(1), m.group(2)
        if re.match(r'[a-z][a-z0-9+.-]*:|#|/', target): return m.group(0)   # absolute, anchor or site-rooted
        raw = text.startswith('!')                                          # images: the file itself
        base = repo.replace('https://github.com/', 'https://raw.githubusercontent.com/') + f'/{branch}/' if raw \
               else f'{repo}/blob/{branch}/'
        return f'{text}({base}{target})'
    return re.sub(r'(!?\[[^\]]*\])\(([^)\s]+)\)', fix, markdown)


setuptools.setup(
    name=cfg['lib_name'],
    classifiers=['Development Status :: ' + statuses[int(cfg['status']) - 1],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'Operating System :: OS Independent',
                 'Topic :: Scientific/Engineering :: Artificial Intelligence']
                + ['Programming Language :: Python :: ' + o for o in py_versions[py_versions.index(min_python):]],
    license='Apache-2.0',
    license_files=['LICENSE'],
    url=repo,
    project_urls={'Source': repo, 'Issues': f'{repo}/issues', 'Documentation': f'{repo}#readme',
                  'Results': f'{repo}/blob/{branch}/results/cpu-preset/README.md'},
    packages=setuptools.find_packages(include=['adavipro', 'adavipro.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require=extras,
    python_requires='>=' + cfg['min_python'],
    long_description=absolute_links((here / 'README.md').read_text(encoding='utf-8')),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': cfg.get('console_scripts', '').split(),
                  'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']},
    **setup_cfg)
