import { LabIcon } from '@jupyterlab/ui-components';

/** A shipping container: the toolbar button's and the sidebar's icon. */
export const containerIcon = new LabIcon({
  name: 'jupyter-mlcontainer:container',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M2 7.5 12 3l10 4.5v9L12 21 2 16.5v-9Zm2 1.3v6.4l7 3.1v-6.4L4 8.8Zm9 3.1v6.4l7-3.1V8.8l-7 3.1Zm-1-1.8 6.9-3.1L12 5 5.1 7 12 10.1Z"/>
  </g>
</svg>`
});
