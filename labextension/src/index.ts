import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  MainAreaWidget,
  showErrorMessage,
  ToolbarButton,
  WidgetTracker
} from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import {
  APIError,
  ICandidates,
  IJob,
  IJobRequest,
  postJSON,
  requestAPI
} from './api';
import { askForJob } from './dialog';
import { containerIcon } from './icon';
import { BuildPanel } from './panel';
import { IRegistrySetting } from './push';
import { InstancesSidebar } from './sidebar';

const PLUGIN_ID = 'jupyter-mlcontainer:plugin';
const COMMAND = 'mlcontainer:containerize';

interface ISettings {
  baseImage: string;
  runAfterBuild: boolean;
  registry: string;
}

/**
 * The jupyter-mlcontainer frontend: a Containerize button on every notebook,
 * a progress panel per build and a sidebar of running containers.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Turn a notebook into a running model-serving container.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ) => {
    const settings: ISettings = {
      baseImage: '',
      runAfterBuild: true,
      registry: ''
    };
    let stored: ISettingRegistry.ISettings | null = null;
    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(loaded => {
          stored = loaded;
          const read = () => {
            settings.baseImage = loaded.get('baseImage').composite as string;
            settings.runAfterBuild = loaded.get('runAfterBuild')
              .composite as boolean;
            settings.registry = loaded.get('registry').composite as string;
          };
          read();
          loaded.changed.connect(read);
        })
        .catch(reason =>
          console.error('jupyter-mlcontainer: cannot load settings', reason)
        );
    }

    const registry: IRegistrySetting = {
      get: () => settings.registry,
      remember: value => {
        if (value === settings.registry) {
          return;
        }
        settings.registry = value;
        stored
          ?.set('registry', value)
          .catch(reason =>
            console.error(
              'jupyter-mlcontainer: cannot save the registry',
              reason
            )
          );
      }
    };

    const panels = new WidgetTracker<MainAreaWidget<BuildPanel>>({
      namespace: 'mlcontainer-builds'
    });
    /** The open notebook at `path`, opened when it is not. */
    const notebookAt = async (path: string): Promise<NotebookPanel> =>
      notebooks.find(panel => panel.context.path === path) ??
      (await app.commands.execute('docmanager:open', { path }));

    /** Show cell `index` of the notebook at `path`: activate it and scroll it into view. */
    const showCell = (path: string) => async (index: number) => {
      const panel = await notebookAt(path);
      await panel.context.ready;
      app.shell.activateById(panel.id);
      const cell = panel.content.widgets[index];
      if (cell) {
        panel.content.activeCellIndex = index;
        await panel.content.scrollToCell(cell, 'center');
      }
    };

    /** What every request for a notebook carries: its kernel (whose state is captured). */
    const jobContext = (
      panel: NotebookPanel | undefined
    ): Pick<IJobRequest, 'kernel_id' | 'base_image'> => {
      const context: Pick<IJobRequest, 'kernel_id' | 'base_image'> = {};
      const kernelId = panel?.sessionContext.session?.kernel?.id;
      if (kernelId) {
        context.kernel_id = kernelId;
      }
      if (settings.baseImage) {
        context.base_image = settings.baseImage;
      }
      return context;
    };

    /** Start a build and open its panel. */
    const build = async (request: IJobRequest) => {
      const { id } = await postJSON<{ id: string }>('jobs', request);
      openJob({ id, notebook: request.path }, request);
    };

    /**
     * The same build again, with the notebook saved and its current kernel: under the same
     * name, the server replaces what serves.
     */
    const redeploy = async (request: IJobRequest) => {
      const panel = notebooks.find(
        widget => widget.context.path === request.path
      );
      if (panel?.context.model.dirty) {
        await panel.context.save();
      }
      await build({ ...request, kernel_id: undefined, ...jobContext(panel) });
    };

    const openJob = (
      job: Pick<IJob, 'id' | 'notebook'>,
      request: IJobRequest | null = null
    ) => {
      const open = panels.find(panel => panel.content.jobId === job.id);
      if (open) {
        app.shell.activateById(open.id);
        return;
      }
      const content = new BuildPanel(job.id, job.notebook, registry, {
        deployed: () => void sidebar.refresh(),
        redeploy: request ? () => redeploy(request) : null,
        showCell: showCell(job.notebook)
      });
      const widget = new MainAreaWidget({ content });
      widget.id = content.id;
      widget.title.label = content.title.label;
      widget.title.icon = containerIcon;
      panels.add(widget);
      app.shell.add(widget, 'main', { mode: 'split-right' });
      app.shell.activateById(widget.id);
    };

    const containerize = async (panel: NotebookPanel) => {
      await panel.context.ready;
      if (panel.context.model.dirty) {
        await panel.context.save();
      }
      const path = panel.context.path;
      let candidates: ICandidates | null = null;
      try {
        candidates = await requestAPI<ICandidates>(
          `candidates?path=${encodeURIComponent(path)}`
        );
      } catch (error) {
        console.warn('jupyter-mlcontainer: no candidates', error);
      }
      const request = await askForJob({
        path,
        name: PathExt.basename(path, '.ipynb'),
        runAfterBuild: settings.runAfterBuild,
        candidates,
        context: jobContext(panel),
        showCell: showCell(path)
      });
      if (!request) {
        return;
      }
      try {
        await build(request);
      } catch (error) {
        const hint = error instanceof APIError ? `\n${error.hint}` : '';
        showErrorMessage(
          'Cannot containerize',
          `${(error as Error).message}${hint}`
        );
      }
    };

    app.commands.addCommand(COMMAND, {
      label: 'Containerize Notebook',
      caption: 'Build a model-serving container from this notebook',
      icon: containerIcon,
      isEnabled: () => notebooks.currentWidget !== null,
      execute: () => {
        const panel = notebooks.currentWidget;
        return panel ? containerize(panel) : undefined;
      }
    });
    palette?.addItem({ command: COMMAND, category: 'ML containers' });
    app.contextMenu.addItem({
      command: COMMAND,
      selector: '.jp-Notebook',
      rank: 100
    });

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (panel: NotebookPanel) => {
        const button = new ToolbarButton({
          icon: containerIcon,
          label: 'Containerize',
          tooltip: 'Build a model-serving container from this notebook',
          onClick: () => void containerize(panel)
        });
        button.node.dataset.testid = 'mlcontainer-toolbar-button';
        panel.toolbar.insertAfter(
          'cellType',
          'mlcontainer-containerize',
          button
        );
        return button;
      }
    });

    const sidebar = new InstancesSidebar(containerIcon, openJob, registry);
    app.shell.add(sidebar, 'left', { rank: 900 });
    restorer?.add(sidebar, sidebar.id);
  }
};

export default plugin;
