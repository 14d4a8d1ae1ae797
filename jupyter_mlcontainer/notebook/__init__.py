"""Front doors inside Jupyter: `%containerize`, the instance object it returns, the test panel
(`widget/`) and `jupyter nbconvert --to mlcontainer`."""
