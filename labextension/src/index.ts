import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

/**
 * The jupyter-mlcontainer frontend: notebook to model-serving container.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-mlcontainer:plugin',
  description: 'Turn a notebook into a running model-serving container.',
  autoStart: true,
  optional: [ISettingRegistry],
  activate: (app: JupyterFrontEnd, settingRegistry: ISettingRegistry | null) => {
    console.log('jupyter-mlcontainer is activated');
    if (settingRegistry) {
      settingRegistry.load(plugin.id).catch(reason => {
        console.error('Failed to load settings for jupyter-mlcontainer.', reason);
      });
    }
  }
};

export default plugin;
