import { render } from 'preact';
import { App } from './components/App';
import { registerWorker } from './worker-link';
import './styles.css';

render(<App />, document.getElementById('app')!);
registerWorker();
